"""The flow graph of a set of BPMN files, with every call expanded, and the loops and cycles in it.

A call activity or embedded sub-process is replaced by a copy of the flows it runs (entry -> its
start events, its end events -> exit), and an activity leads to the boundary events attached to it.
Nodes are keyed by their path: the process id, then the id of each call on the way, then the element.
"""
from dataclasses import dataclass

from .errors import DiagramError

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
MAX_NODES = 20_000  # of the expanded graph; a deeper nesting of calls is refused rather than walked
_CALLING = {"callActivity", "subProcess", "transaction", "adHocSubProcess"}


def local_name(node):
    """The element's tag without its namespace ("" for comments)."""
    return node.tag.split("}")[-1] if isinstance(node.tag, str) else ""


@dataclass
class Graph:
    """Flow nodes and the flows between them."""

    nodes: dict  # key -> (file, xml element)
    edges: dict  # key -> list of (key, flow) where flow is (file, xml sequenceFlow) or None


def _processes(trees):
    return {p.get("id"): (name, p) for name, tree in trees.items() if name.endswith(".bpmn")
            for p in tree.iter(f"{{{BPMN}}}process")}


def build(trees) -> Graph:
    """The expanded flow graph of every process in the BPMN trees ({file name: root element})."""
    processes = _processes(trees)
    graph = Graph({}, {})
    for process_id, (name, process) in processes.items():
        _add_scope(graph, processes, name, process, (process_id,), ())
    return graph


def _add_scope(graph, processes, name, scope, path, calls):
    """Add the flow nodes and flows of one process or sub-process, expanding what it calls."""
    if len(graph.nodes) > MAX_NODES:
        raise DiagramError(f"the processes call each other too deeply to check their loops (more than {MAX_NODES} "
                           "expanded elements)", name, scope.get("id"), scope.sourceline)
    entries, exits = {}, {}
    for node in scope:
        kind, node_id = local_name(node), node.get("id")
        if kind in ("sequenceFlow", "laneSet", "extensionElements", "documentation") or node_id is None:
            continue
        key = path + (node_id,)
        graph.nodes[key] = (name, node)
        graph.edges.setdefault(key, [])
        entries[node_id], exits[node_id] = key, key
        if kind in _CALLING and node.get("triggeredByEvent") != "true":
            entries[node_id], exits[node_id] = _expand_call(graph, processes, name, node, key, calls)
        elif kind == "subProcess":  # an event sub-process: its own flows, started by its events
            _add_scope(graph, processes, name, node, key, calls)
    for node in scope:
        if local_name(node) == "boundaryEvent" and node.get("attachedToRef") in entries:
            _link(graph, entries[node.get("attachedToRef")], path + (node.get("id"),), None)
        if local_name(node) == "sequenceFlow" and node.get("sourceRef") in exits and node.get("targetRef") in entries:
            _link(graph, exits[node.get("sourceRef")], entries[node.get("targetRef")], (name, node))
    return path


def _expand_call(graph, processes, name, node, key, calls):
    """Return the (entry, exit) keys of a call: entry -> the called start events, end events -> exit."""
    if local_name(node) == "callActivity":
        target = node.get("calledElement")
        if target in calls:
            raise DiagramError(f"calls process {target!r}, which is already running above it: a recursive call "
                               "is a loop without a cap", file_name=name, element_id=node.get("id"), line=node.sourceline)
        if target not in processes:
            return key, key  # reported by the check of call targets
        called_name, scope = processes[target]
        calls = calls + (target,)
    else:
        called_name, scope = name, node
    inner = key + ("called",)
    _add_scope(graph, processes, called_name, scope, inner, calls)
    out = key + ("done",)
    graph.nodes[out] = (name, node)
    graph.edges.setdefault(out, [])
    for child in scope:
        if local_name(child) == "startEvent":
            _link(graph, key, inner + (child.get("id"),), None)
        elif local_name(child) == "endEvent":
            _link(graph, inner + (child.get("id"),), out, None)
    return key, out


def _link(graph, source, target, flow):
    graph.edges.setdefault(source, []).append((target, flow))


def loops(graph) -> list:
    """The strongly connected parts of the graph that contain a cycle (Tarjan, without recursion)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], [0]
    for root in graph.nodes:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = counter[0]
                counter[0] += 1
                stack.append(node)
                on_stack.add(node)
            successors = graph.edges.get(node, [])
            if child < len(successors):
                work.append((node, child + 1))
                target = successors[child][0]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            if low[node] == index[node]:
                part = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    part.add(member)
                    if member == node:
                        break
                if len(part) > 1 or any(t == node for t, _ in graph.edges.get(node, [])):
                    found.append(part)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return found


def find_cycle(graph, part, first=()):
    """One cycle inside `part` as [(node, flow into the next node)], searched from `first` on; or None."""
    state, trail = {}, []

    def visit(start):
        work = [(start, iter(graph.edges[start]))]
        state[start] = 1
        trail.append((start, None))
        while work:
            node, successors = work[-1]
            for target, flow in successors:
                if target not in part:
                    continue
                trail[-1] = (node, flow)
                if state.get(target) == 1:
                    at = next(i for i, (k, _) in enumerate(trail) if k == target)
                    return trail[at:]
                if target not in state:
                    state[target] = 1
                    trail.append((target, None))
                    work.append((target, iter(graph.edges[target])))
                    break
            else:
                state[node] = 2
                work.pop()
                trail.pop()
        return None

    for start in [k for k in first if k in part] + sorted(part):
        if start not in state:
            cycle = visit(start)
            if cycle:
                return cycle
    return None
