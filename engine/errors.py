"""Errors the engine raises; the web layer maps each to one HTTP status in one place."""


class IncidentsError(Exception):
    """Base of every error the engine raises on purpose."""


class DiagramError(IncidentsError):
    """A diagram, DMN table or form definition is broken; names file, element and line."""

    def __init__(self, message, file_name=None, element_id=None, line=None):
        self.message = message
        self.file_name = file_name
        self.element_id = element_id
        self.line = line
        super().__init__(self.describe())

    def describe(self):
        """Return one line naming where the problem is and what it is."""
        where = []
        if self.file_name:
            where.append(self.file_name)
        if self.line:
            where.append(f"line {self.line}")
        if self.element_id:
            where.append(f"element '{self.element_id}'")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class RestrictedCodeError(IncidentsError):
    """Diagram code used something the restricted environment forbids."""


class DiagramCodeFailed(IncidentsError):
    """Code in the case's diagram (script, condition, timer, DMN cell) failed or was stopped mid-step.

    The step is not saved: the case keeps its state, data and history. The message names the
    element and the reason, never the case's data.
    """

    def __init__(self, element_id, reason):
        self.element_id = element_id
        self.reason = reason
        super().__init__(f"the diagram code at '{element_id}' failed: {reason.rstrip('.')}. Nothing was saved; "
                         "policy staff must fix the process version this case runs on")


class NotFound(IncidentsError):
    """The case, task or link does not exist, or the caller may not know it exists."""


class NotAllowed(IncidentsError):
    """The caller is known but their roles do not allow this action."""


class TaskNotReady(IncidentsError):
    """The task was already completed or is not waiting for input any more."""


class StaleCase(IncidentsError):
    """Someone else changed the case between reading and writing it."""


class CaseClosed(IncidentsError):
    """The case is closed and does not take this action."""


class CasePurged(IncidentsError):
    """The case's key was destroyed at the end of its retention: its data can no longer be read."""


class MoveRefused(IncidentsError):
    """A case cannot move to another process version; the message names the first difference."""


class InvalidSubmission(IncidentsError):
    """Submitted data failed validation; `errors` maps field names to messages."""

    def __init__(self, errors):
        self.errors = errors
        super().__init__("invalid submission: " + ", ".join(sorted(errors)))


class AuthenticationFailed(IncidentsError):
    """Wrong username, password or token."""


class TooManyAttempts(IncidentsError):
    """Too many failed logins for this username lately; try again later."""


class ProcessTestError(IncidentsError):
    """A process test file is malformed or refers to something the process does not have; names file and line."""

    def __init__(self, message, file_name=None, line=None):
        self.message = message
        self.file_name = file_name
        self.line = line
        super().__init__(self.describe())

    def describe(self):
        """Return one line naming the file and line and what is wrong there."""
        where = ", ".join(part for part in (self.file_name, f"line {self.line}" if self.line else None) if part)
        return f"{where}: {self.message}" if where else self.message
