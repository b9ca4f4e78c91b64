"""Ask every configured node at once, within one time budget."""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor, wait

from ordering.pacs.breaker import breaker_check, breaker_record
from ordering.pacs.dimse import EchoResult, echo, find_studies
from ordering.pacs.nodes import PacsNode
from ordering.pacs.qido import find_studies_qido, ping
from ordering.pacs.query import Failure, NodeAnswer, StudyQuery


def node_echo(node: PacsNode) -> EchoResult:
    """C-ECHO a DIMSE node; for a DICOMweb node, an HTTP request to its root."""
    if node.transport == "dicomweb":
        return EchoResult(*ping(node))
    return echo(node)


def node_find(node: PacsNode, query: StudyQuery, *, deadline: float) -> NodeAnswer:
    if node.transport == "dicomweb":
        return find_studies_qido(node, query, deadline=deadline)
    return find_studies(node, query, deadline=deadline)


def nodes_search(nodes: list[PacsNode], query: StudyQuery, *, deadline: float) -> list[NodeAnswer]:
    """One answer per node, in the nodes' order, all by the deadline.

    Each node's own timeouts are capped by what is left of the budget; a node
    still busy at the deadline is reported as timed out and left to finish (its
    association times out on its own) rather than waited for.
    """
    if not nodes:
        return []
    # A node whose breaker is open is not asked: its answer is the earlier failure.
    skipped = {node.name: breaker_check(node.name) for node in nodes}
    asked = [node for node in nodes if skipped[node.name] is None]
    answers = {answer.node: answer for answer in _ask(asked, query, deadline=deadline)}
    for answer in answers.values():
        breaker_record(answer)
    return [
        answers[node.name] if state is None else state.answer(node.name)
        for node, state in ((node, skipped[node.name]) for node in nodes)
    ]


def _ask(nodes: list[PacsNode], query: StudyQuery, *, deadline: float) -> list[NodeAnswer]:
    if not nodes:
        return []
    started = time.monotonic()
    pool = ThreadPoolExecutor(max_workers=len(nodes), thread_name_prefix="pacs")
    try:
        futures: list[Future[NodeAnswer]] = [
            pool.submit(node_find, node, query, deadline=deadline) for node in nodes
        ]
        wait(futures, timeout=max(0.0, deadline - time.monotonic()))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    answers = []
    for node, future in zip(nodes, futures, strict=True):
        elapsed = (time.monotonic() - started) * 1000
        if not future.done():
            answers.append(
                NodeAnswer(
                    node.name,
                    False,
                    failure=Failure.TIMEOUT,
                    detail="over budget",
                    elapsed_ms=elapsed,
                )
            )
            continue
        error = future.exception()
        if error is not None:
            # A bug in reading an answer must still end as "unavailable", not a 500.
            answers.append(
                NodeAnswer(
                    node.name,
                    False,
                    failure=Failure.ERROR,
                    detail=error.__class__.__name__,
                    elapsed_ms=elapsed,
                )
            )
            continue
        answers.append(future.result())
    return answers
