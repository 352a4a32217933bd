from reference.apiserver.admission.fielderror import (
    FieldError,
    combine,
    invalid_value,
    missing_field,
    missing_one_of,
    out_of_bounds,
)


def test_paths_are_prefixed_as_validation_walks_out() -> None:
    err = out_of_bounds(1001, 0, 1000, "containerConcurrency").via("spec").via("template").via("spec")
    assert str(err) == "expected 0 <= 1001 <= 1000: spec.template.spec.containerConcurrency"


def test_indexes_attach_to_the_field_before_them() -> None:
    err = missing_field("image").via_index(0).via("containers").via("spec")
    assert str(err) == "missing field(s): spec.containers[0].image"
    assert str(missing_field("name").via_field_key("data", "a.b/c")) == "missing field(s): data[a.b/c].name"


def test_errors_with_one_message_merge_and_sort() -> None:
    err = combine(missing_field("b"), missing_field("a"), invalid_value("x", "c"))
    assert str(err) == "invalid value: x: c\nmissing field(s): a, b"


def test_details_follow_on_their_own_line() -> None:
    err = FieldError("more than one container port is set", ["containers[*].ports"],
                     "Only a single port is allowed across all containers")
    assert str(err) == ("more than one container port is set: containers[*].ports\n"
                        "Only a single port is allowed across all containers")


def test_empty_combination_is_none() -> None:
    assert combine(None, None) is None
    assert str(missing_one_of("ref", "uri")) == "expected exactly one, got neither: ref, uri"
