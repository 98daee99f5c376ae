"""Every loop in a process version has a cap: the rule, checked when diagrams are loaded.

A loop is a cycle of sequence flows. Call activities and embedded sub-processes are expanded into
the flows of the process they run (a copy per call), and an activity leads to the boundary events
attached to it, so a loop that leaves a diagram and comes back through another one is seen whole
(the decision loop runs decision.bpmn, response.bpmn and back through incident_response.bpmn).

A loop (a strongly connected part of that graph) is capped by a counter `n` when:
1. every cycle passes through a script that counts the rounds, `n = n + 1` or `n += 1` (a script
   task's body, or a pre- or post-script of any task): without those elements no cycle is left;
2. one of the loop's sequence flows has a condition requiring `n < cap` or `n <= cap` (as a term
   of an `and`; `cap > n` also works), `cap` being a name or a whole number up to MAX_ROUNDS;
3. nothing else in the loop sets `n` or `cap`: no other script, no form field of a user task, no
   DMN output, no message variable.
The flows alone cannot show that the loop only goes round again through the capped flow (the
decision loop goes back on `decision_revised`, a flag the capped branch sets), so the engine also
enforces the cap while a case runs: a counting script that takes `n` past `cap` (past `cap + 1`
for `<=`) or past MAX_ROUNDS fails the step (engine/scripting.py). Every round counts, so a loop
cannot run more than that many rounds, whatever its data does.

Loop tasks need `loopMaximum` (at most MAX_ROUNDS), multi-instance tasks a literal cardinality up to
MAX_ROUNDS or a collection from the case data, and cycle timers an explicit repeat count
(`R3/PT1H`, at most MAX_ROUNDS).
"""
import ast
import re
from dataclasses import dataclass

from .errors import DiagramError
from .flowgraph import BPMN, build, find_cycle, local_name, loops

SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
MAX_ROUNDS = 50  # SpiffWorkflow loses tasks past a depth of 1000: keep every loop well short of it
_SCRIPT_TAGS = (f"{{{BPMN}}}script", f"{{{SPIFF}}}preScript", f"{{{SPIFF}}}postScript")


@dataclass(frozen=True)
class Cap:
    """The cap of one loop counter: a name or number, and whether the check is `<=`."""

    cap: object
    inclusive: bool

    def limit(self, scope: dict):
        """The highest value the counter may reach, given the cap's value in `scope` (None if unknown)."""
        value = self.cap if isinstance(self.cap, int) else scope.get(self.cap)
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        return min(value + (1 if self.inclusive else 0), MAX_ROUNDS)


def _where(name, node):
    return dict(file_name=name, element_id=node.get("id"), line=node.sourceline)


# ------------------------------------------------------------------ loop markers and cycle timers


def check_loop_markers(trees: dict) -> None:
    """Loop tasks, multi-instance tasks and cycle timers each have a literal bound of at most MAX_ROUNDS."""
    for name, tree in trees.items():
        for marker in tree.iter(f"{{{BPMN}}}standardLoopCharacteristics"):
            maximum = marker.get("loopMaximum")
            _check_bound(name, marker.getparent(), maximum, "loopMaximum", maximum)
        for marker in tree.iter(f"{{{BPMN}}}multiInstanceLoopCharacteristics"):
            cardinality = marker.find(f"{{{BPMN}}}loopCardinality")
            if cardinality is not None:
                text = (cardinality.text or "").strip()
                _check_bound(name, marker.getparent(), text, "loopCardinality", text)
        for timer in tree.iter(f"{{{BPMN}}}timeCycle"):
            text = (timer.text or "").strip()
            match = re.match(r"""^["']R(\d*)/""", text)
            _check_bound(name, timer.getparent(), match.group(1) if match else None,
                         "the repeat count of a cycle timer (a literal 'R<n>/...')", text)


def _check_bound(name, node, count, what, shown):
    if count is None or not re.fullmatch(r"\d+", count) or not 0 < int(count) <= MAX_ROUNDS:
        raise DiagramError(f"{what} must be a whole number from 1 to {MAX_ROUNDS}, got {shown!r}: every loop "
                           "needs a cap", **_where(name, node))


# ------------------------------------------------------------------ loops and their caps


def check_loops(trees: dict, forms: dict, dmn_outputs: dict) -> dict:
    """Check that every loop of the BPMN files is capped; return {counter name: Cap} for the run-time check."""
    graph = build(trees)
    caps = {}
    for loop in loops(graph):
        counter, cap, (name, flow) = _capped_by(graph, loop, forms, dmn_outputs)
        if caps.get(counter, cap) != cap:
            raise DiagramError(f"{counter} counts two loops with different caps ({caps[counter].cap} and {cap.cap}): "
                               "give each loop its own counter", name, flow.get("id"), flow.sourceline)
        caps[counter] = cap
    return caps


def _capped_by(graph, loop, forms, dmn_outputs):
    """The counter, cap and capping flow that bound this loop, or DiagramError naming a flow of an uncapped cycle."""
    counting = {}
    for key in loop:
        for counter in _counted(*graph.nodes[key]):
            counting.setdefault(counter, set()).add(key)
    checks = {}
    for key in loop:
        for target, flow in graph.edges[key]:
            if target in loop and flow is not None:
                for counter, cap in _cap_terms(flow[1]):
                    checks.setdefault(counter, (cap, flow))
    for counter in sorted(set(counting) & set(checks)):
        if find_cycle(graph, loop - counting[counter]) is None:
            cap, flow = checks[counter]
            _check_nothing_else_sets(graph, loop, counter, cap, counting[counter], forms, dmn_outputs)
            return counter, cap, flow
    # walk from where the loop is entered, so the flow that closes the cycle is the one that goes back
    entries = [target for key in graph.nodes if key not in loop for target, _ in graph.edges[key] if target in loop]
    uncounted = loop - set().union(*counting.values()) if counting else loop
    cycle = find_cycle(graph, uncounted, entries) or find_cycle(graph, loop, entries)
    _uncapped(graph, cycle, counting, checks)


def _uncapped(graph, cycle, counting, checks):
    flows = [flow for _, flow in cycle if flow is not None]
    conditional = [f for f in flows if f[1].find(f"{{{BPMN}}}conditionExpression") is not None]
    closing = cycle[-1][1]
    if closing is not None and closing in conditional:
        name, flow = closing
    else:
        name, flow = (conditional[-1:] or flows[-1:] or [graph.nodes[cycle[0][0]]])[0]
    path = " -> ".join(dict.fromkeys(graph.nodes[key][1].get("id") for key, _ in cycle))
    both = sorted(set(counting) & set(checks))
    if both:
        detail = f"this cycle does not pass the script that counts {', '.join(both)}, so its rounds are not counted"
    elif counting:
        counted = sorted(counting)[0]
        detail = (f"it counts {', '.join(sorted(counting))} but none of its flows compares that count with a cap "
                  f"(a condition such as {counted} < max_rounds)")
    else:
        detail = ("no script in it counts the rounds (n = n + 1) with a condition on one of its flows comparing "
                  "the count with a cap (n < max_n)")
    raise DiagramError(f"this flow closes a loop without a cap ({path}): {detail}", name, flow.get("id"),
                       flow.sourceline)


# ------------------------------------------------------------------ reading scripts and conditions


def _scripts(node):
    return [(s, s.text or "") for tag in _SCRIPT_TAGS for s in node.iter(tag)
            if _nearest_id(s) == node.get("id")]


def _nearest_id(node):
    while node is not None and node.get("id") is None:
        node = node.getparent()
    return node.get("id") if node is not None else None


def _counted(name, node):
    """The names a node's scripts count up by a positive whole number (`n = n + 1`, `n += 1`)."""
    counted = set()
    for _, text in _scripts(node):
        try:
            body = ast.parse(text).body
        except SyntaxError:
            continue  # reported by the code lint
        for statement in body:
            counted |= _increment(statement)
    return counted


def _increment(statement):
    if (isinstance(statement, ast.AugAssign) and isinstance(statement.op, ast.Add)
            and isinstance(statement.target, ast.Name) and _positive(statement.value)):
        return {statement.target.id}
    if (isinstance(statement, ast.Assign) and len(statement.targets) == 1 and isinstance(statement.targets[0], ast.Name)
            and isinstance(statement.value, ast.BinOp) and isinstance(statement.value.op, ast.Add)):
        name, value = statement.targets[0].id, statement.value
        for own, step in ((value.left, value.right), (value.right, value.left)):
            if isinstance(own, ast.Name) and own.id == name and _positive(step):
                return {name}
    return set()


def _positive(node):
    return isinstance(node, ast.Constant) and type(node.value) is int and node.value > 0


def _cap_terms(flow):
    """(counter, Cap) for every `counter < cap` term an `and` condition of this flow requires."""
    condition = flow.find(f"{{{BPMN}}}conditionExpression")
    try:
        tree = ast.parse((condition.text or "").strip(), mode="eval").body if condition is not None else None
    except SyntaxError:
        return []
    terms, found = [tree] if tree is not None else [], []
    while terms:
        term = terms.pop()
        if isinstance(term, ast.BoolOp) and isinstance(term.op, ast.And):
            terms.extend(term.values)
        elif isinstance(term, ast.Compare) and len(term.ops) == 1:
            found.extend(_comparison(term.left, term.ops[0], term.comparators[0]))
    return found


def _comparison(left, op, right):
    flipped = {ast.Gt: ast.Lt, ast.GtE: ast.LtE}
    if type(op) in flipped:
        left, right, op = right, left, flipped[type(op)]()
    if not isinstance(op, (ast.Lt, ast.LtE)) or not isinstance(left, ast.Name):
        return []
    if isinstance(right, ast.Name):
        return [(left.id, Cap(right.id, isinstance(op, ast.LtE)))]
    if _positive(right) and right.value <= MAX_ROUNDS:
        return [(left.id, Cap(right.value, isinstance(op, ast.LtE)))]
    return []


def _assigned(text):
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.Lambda)) and getattr(node, "name", None):
            names.add(node.name)
    return names


def _check_nothing_else_sets(graph, loop, counter, cap, counting, forms, dmn_outputs):
    """Inside the loop, only the counting scripts change the counter, and nothing changes the cap."""
    watched = {counter} | ({cap.cap} if isinstance(cap.cap, str) else set())
    for key in loop:
        name, node = graph.nodes[key]
        for script, text in _scripts(node):
            changed = _assigned(text) & watched
            if key in counting:
                changed -= {counter} if _sets_only_by_counting(text, counter) else set()
            if changed:
                raise DiagramError(f"this script sets {', '.join(sorted(changed))} inside the loop that "
                                   f"{counter} caps: only the counting script may change the counter, and "
                                   "nothing in the loop the cap", name, node.get("id"), script.sourceline)
        _check_inputs(name, node, watched, counter, forms, dmn_outputs)


def _sets_only_by_counting(text, counter):
    statements = ast.parse(text).body
    return [s for s in statements if counter in _assigned(ast.unparse(s))] == \
        [s for s in statements if _increment(s) == {counter}]


def _check_inputs(name, node, watched, counter, forms, dmn_outputs):
    """A form field, DMN output or message variable named like the counter or cap would reset it."""
    kind, node_id = local_name(node), node.get("id")
    names = set()
    if kind == "userTask" and node_id in forms:
        names = {field["name"] for field in forms[node_id].describe()}
    elif kind == "businessRuleTask":
        decision = node.find(f".//{{{SPIFF}}}calledDecisionId")
        names = set(dmn_outputs.get((decision.text or "").strip(), ())) if decision is not None else set()
    for variable in node.iter(f"{{{SPIFF}}}messageVariable"):
        names.add((variable.text or "").strip())
    if names & watched:
        raise DiagramError(f"this {kind} sets {', '.join(sorted(names & watched))} inside the loop that {counter} "
                           "caps: the counter and its cap must not come from input", name, node_id, node.sourceline)
