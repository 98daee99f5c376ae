"""Runs Code of Conduct cases on the BPMN diagrams in `bpmn/` and keeps their history."""
