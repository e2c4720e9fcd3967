"""Validation of custom field values: every type, unknown keys, required fields, partial updates."""

import datetime as dt

import pytest

from kramar.core.customfields import custom_fields_clean
from kramar.core.errors import ValidationFailed
from kramar.core.tests.factories import CustomFieldDefinitionFactory

pytestmark = pytest.mark.django_db


def _field(field_type, **kwargs):
    return CustomFieldDefinitionFactory(entity="contact", key="f", field_type=field_type, **kwargs)


def _clean(value, **kwargs):
    return custom_fields_clean(entity="contact", values={"f": value}, **kwargs)


@pytest.mark.parametrize(
    ("field_type", "choices", "value", "expected"),
    [
        ("text", [], "hello", "hello"),
        ("text", [], 42, "42"),
        ("text", [], 1.5, "1.5"),
        ("number", [], "42", 42),
        ("number", [], 7, 7),
        ("number", [], "3,25", 3.25),
        ("number", [], " 1.0 ", 1),
        ("number", [], "-12.5", -12.5),
        ("date", [], "2026-03-08", "2026-03-08"),
        ("date", [], dt.date(2026, 3, 8), "2026-03-08"),
        ("date", [], " 2026-03-08 ", "2026-03-08"),
        ("boolean", [], True, True),
        ("boolean", [], False, False),
        ("boolean", [], "yes", True),
        ("boolean", [], "On", True),
        ("boolean", [], "1", True),
        ("boolean", [], "так", True),
        ("boolean", [], "ні", False),
        ("boolean", [], "no", False),
        ("boolean", [], "0", False),
        ("choice", ["A", "B"], "B", "B"),
        ("multi_choice", ["red", "green", "blue"], ["red", "blue"], ["red", "blue"]),
        ("multi_choice", ["red", "green", "blue"], "green, red", ["green", "red"]),
    ],
)
def test_valid_values_are_coerced(field_type, choices, value, expected):
    _field(field_type, choices=choices)
    assert _clean(value) == {"f": expected}


@pytest.mark.parametrize(
    ("field_type", "choices", "value", "message"),
    [
        ("text", [], {"a": 1}, "must be text"),
        ("text", [], ["a"], "must be text"),
        ("number", [], "abc", "must be a number"),
        ("number", [], True, "must be a number"),
        ("number", [], "Infinity", "must be a number"),
        ("number", [], "NaN", "must be a number"),
        ("date", [], "08.03.2026", "must be a date (YYYY-MM-DD)"),
        ("date", [], "2026-02-30", "must be a date (YYYY-MM-DD)"),
        ("boolean", [], "maybe", "must be yes or no"),
        ("choice", ["A", "B"], "C", "must be one of: A, B"),
        (
            "multi_choice",
            ["red", "green"],
            ["red", "pink", "teal"],
            "unknown choice pink, teal; allowed: red, green",
        ),
        ("multi_choice", ["red", "green"], "red,pink", "unknown choice pink; allowed: red, green"),
    ],
)
def test_invalid_values_are_refused_with_a_message(field_type, choices, value, message):
    _field(field_type, choices=choices)
    with pytest.raises(ValidationFailed) as exc:
        _clean(value)
    assert exc.value.errors == {"custom.f": [message]}
    assert exc.value.status == 422


@pytest.mark.parametrize("empty", [None, "", []])
def test_empty_values_clear_the_field(empty):
    _field("text")
    assert _clean(empty) == {}
    assert _clean(empty, current={"f": "old"}, partial=True) == {}


def test_unknown_keys_are_refused():
    _field("text")
    with pytest.raises(ValidationFailed) as exc:
        custom_fields_clean(entity="contact", values={"f": "ok", "colour": "red"})
    assert exc.value.errors == {"custom.colour": ["unknown custom field"]}


def test_definitions_of_another_entity_do_not_apply():
    CustomFieldDefinitionFactory(entity="company", key="f", field_type="number")
    with pytest.raises(ValidationFailed) as exc:
        custom_fields_clean(entity="contact", values={"f": "x"})
    assert exc.value.errors == {"custom.f": ["unknown custom field"]}


def test_required_fields_must_have_a_value():
    CustomFieldDefinitionFactory(entity="contact", key="budget", field_type="number", required=True)
    CustomFieldDefinitionFactory(entity="contact", key="note", field_type="text")
    with pytest.raises(ValidationFailed) as exc:
        custom_fields_clean(entity="contact", values={"note": "x"})
    assert exc.value.errors == {"custom.budget": ["this field is required"]}
    with pytest.raises(ValidationFailed):
        custom_fields_clean(entity="contact", values={"budget": ""})
    assert custom_fields_clean(entity="contact", values={"budget": "5"}) == {"budget": 5}


def test_a_bad_required_value_reports_the_type_error_only():
    CustomFieldDefinitionFactory(entity="contact", key="budget", field_type="number", required=True)
    with pytest.raises(ValidationFailed) as exc:
        custom_fields_clean(entity="contact", values={"budget": "lots"})
    assert exc.value.errors == {"custom.budget": ["must be a number"]}


def test_partial_update_merges_over_current_values():
    CustomFieldDefinitionFactory(entity="contact", key="budget", field_type="number", required=True)
    CustomFieldDefinitionFactory(entity="contact", key="segment", field_type="choice", choices=["A", "B"])
    current = {"budget": 10, "segment": "A"}
    assert custom_fields_clean(entity="contact", values={"segment": "B"}, current=current, partial=True) == {
        "budget": 10,
        "segment": "B",
    }
    # a full replace does not keep the old values, so the required one is missing
    with pytest.raises(ValidationFailed) as exc:
        custom_fields_clean(entity="contact", values={"segment": "B"}, current=current, partial=False)
    assert exc.value.errors == {"custom.budget": ["this field is required"]}
    # and a partial update may not clear a required value
    with pytest.raises(ValidationFailed):
        custom_fields_clean(entity="contact", values={"budget": None}, current=current, partial=True)


def test_every_bad_key_is_reported_at_once():
    CustomFieldDefinitionFactory(entity="contact", key="n", field_type="number")
    CustomFieldDefinitionFactory(entity="contact", key="d", field_type="date")
    with pytest.raises(ValidationFailed) as exc:
        custom_fields_clean(entity="contact", values={"n": "x", "d": "y", "z": 1})
    assert set(exc.value.errors) == {"custom.n", "custom.d", "custom.z"}


@pytest.mark.parametrize("values", [["a"], "text", 5])
def test_values_must_be_an_object(values):
    with pytest.raises(ValidationFailed) as exc:
        custom_fields_clean(entity="contact", values=values)
    assert exc.value.errors == {"custom": ["must be an object of field keys to values"]}


def test_no_definitions_and_no_values_is_empty():
    assert custom_fields_clean(entity="contact", values=None) == {}


def test_definitions_can_be_passed_in_without_a_query(django_assert_num_queries):
    definition = CustomFieldDefinitionFactory.build(entity="contact", key="n", field_type="number")
    with django_assert_num_queries(0):
        assert custom_fields_clean(entity="contact", values={"n": "2"}, definitions=[definition]) == {"n": 2}
