"""The held-case memory budget (issue 14: under 2 KiB a case), in the sizes
that decide it. A held case keeps about six history items and five deadlines,
so a field more on either costs more than anything else would."""

import sys
from datetime import date

import attrs
import pytest

from cinflow import models
from cinflow.models import Deadline, HistoryItem

RECORDS = [c for c in vars(models).values() if isinstance(c, type) and attrs.has(c) and c.__module__ == models.__name__]


@pytest.mark.parametrize("cls", RECORDS, ids=lambda c: c.__name__)
def test_records_take_no_weak_reference_slot(cls):
    assert "__weakref__" not in cls.__slots__ and not any("__weakref__" in vars(b) for b in cls.__mro__[1:-1])


def test_a_history_item_and_a_deadline_fit_their_allocation_classes():
    # pymalloc hands out 16-byte steps: ten slots and the object and GC
    # headers are 112 bytes; one more field (or the weak-reference slot) is 128.
    item = HistoryItem(date(2027, 4, 1), "referral_received", True, "new", "referral")
    assert sys.getsizeof(item) <= 112
    assert sys.getsizeof(Deadline("assessment", date(2027, 5, 27), "kent.assessment", "kent.md s3", date(2027, 4, 1))) <= 96


def test_automatic_is_read_from_the_event_not_stored():
    # Only the engine makes these events (submitting one is refused), so the
    # name decides: a stored row's flag and the item cannot disagree.
    birthday = HistoryItem(date(2027, 4, 1), "eighteenth_birthday", True, "cin_plan", "closed")
    meeting = HistoryItem(date(2027, 4, 1), "cin_meeting", True, "cin_plan", "cin_plan")
    assert birthday.automatic and not meeting.automatic
    assert "automatic" not in attrs.fields_dict(HistoryItem)
