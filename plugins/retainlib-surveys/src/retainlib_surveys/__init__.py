"""retainlib sources for NPS survey tools: ``surveymonkey``, ``typeform`` and ``delighted``.

Each reads a tool's exports into ``responses`` (one row per answer to the
NPS question: ``response_id``, ``customer_id``, ``responded_at``, ``score``
0..10) and ``customers`` (one row per identified respondent, with the
normalised ``email`` that :func:`retainlib.merge` matches with other
sources' customers):

* ``surveymonkey``: the "All individual responses" CSV export (two header
  lines; the NPS answer as a number or a label such as ``10 - Extremely
  likely``; local times read in the ``tz`` option's zone);
* ``typeform``: the responses CSV download, and Responses API pages or
  webhook payloads (JSON); partial responses are rejected unless
  ``partial='keep'``;
* ``delighted``: the API's survey responses (JSON); survey types other than
  NPS are rejected with their type.

A respondent is their e-mail, stripped and lower-cased (Delighted: the
person's e-mail, else ``delighted:<person id>``); a response without one is
rejected unless ``anonymous='keep'``.  Every record is loaded or rejected with
its line and reason, so rows read = loaded + rejected.  Every file is
recognised by its content.  ``docs/sources/surveys.md`` describes what to
export, what is read, every policy and option.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from retainlib.plugins import Source, hookimpl
from retainlib_surveys import _csvfile, _delighted, _jsonfile, _surveymonkey, _typeform

__all__ = ["CONFIDENT", "detect_delighted", "detect_surveymonkey", "detect_typeform", "retainlib_sources"]

#: Score of a file that is certainly the tool's export.
CONFIDENT = 90


def detect_surveymonkey(path: Path, head: bytes) -> int:
    """:data:`CONFIDENT` for a SurveyMonkey CSV export (its first line starts ``Respondent ID,``), else 0."""
    del path  # recognised by content
    if _jsonfile.is_json(head):
        return 0
    return CONFIDENT if _csvfile.sniff(head, _surveymonkey.is_header) is not None else 0


def detect_typeform(path: Path, head: bytes) -> int:
    """:data:`CONFIDENT` for a Typeform CSV download or API/webhook JSON, else 0."""
    del path
    if _jsonfile.is_json(head):
        return CONFIDENT if _typeform.is_json_export(head) else 0
    return CONFIDENT if _csvfile.sniff(head, _typeform.is_header) is not None else 0


def detect_delighted(path: Path, head: bytes) -> int:
    """:data:`CONFIDENT` for Delighted survey responses (API JSON), else 0."""
    del path
    return CONFIDENT if _jsonfile.is_json(head) and _delighted.is_json_export(head) else 0


@hookimpl
def retainlib_sources() -> Iterable[Source]:
    """The ``surveymonkey``, ``typeform`` and ``delighted`` sources."""
    yield Source(
        name=_surveymonkey.NAME,
        description="SurveyMonkey: the 'All individual responses' CSV export, NPS question -> responses",
        kinds=("csv",),
        reader=_surveymonkey.read,
        detector=detect_surveymonkey,
        options=_surveymonkey.OPTIONS,
    )
    yield Source(
        name=_typeform.NAME,
        description="Typeform: responses CSV download, Responses API and webhook JSON, nps field -> responses",
        kinds=("csv", "json", "jsonl"),
        reader=_typeform.read,
        detector=detect_typeform,
        options=_typeform.OPTIONS,
    )
    yield Source(
        name=_delighted.NAME,
        description="Delighted: API survey responses (JSON), NPS surveys -> responses",
        kinds=("json", "jsonl"),
        reader=_delighted.read,
        detector=detect_delighted,
        options=_delighted.OPTIONS,
    )
