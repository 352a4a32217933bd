"""Trigger filters: Knative's attribute rules, the `filters` dialects, precedence, CESQL and the CEL extension."""

import pytest

from reference.cloudevents.codec import Event
from reference.cloudevents.filters import compile_trigger

EVENT = Event({"specversion": "1.0", "id": "1", "source": "/apis/v1/namespaces/ai/kafkasources/orders#orders",
               "type": "dev.knative.kafka.event", "subject": "partition:0#12", "region": "eu", "empty": ""},
              b'{"score": 0.9, "label": "positive"}')


@pytest.mark.parametrize(("spec", "passes"), [
    ({}, True),
    ({"filter": {}}, True),
    ({"filter": {"attributes": {"type": "dev.knative.kafka.event"}}}, True),
    ({"filter": {"attributes": {"type": "Dev.Knative.Kafka.Event"}}}, False),  # case-sensitive
    ({"filter": {"attributes": {"type": "dev.knative.kafka.event", "region": "us"}}}, False),  # all keys
    ({"filter": {"attributes": {"region": ""}}}, True),  # "" = present and non-empty
    ({"filter": {"attributes": {"empty": ""}}}, False),
    ({"filter": {"attributes": {"missing": ""}}}, False),
    ({"filter": {"attributes": {"missing": "x"}}}, False),
    ({"filters": [{"exact": {"region": "eu"}}]}, True),
    ({"filters": [{"exact": {"missing": "eu"}}]}, False),
    ({"filters": [{"prefix": {"source": "/apis/v1/namespaces/ai"}}]}, True),
    ({"filters": [{"prefix": {"missing": ""}}]}, False),
    ({"filters": [{"suffix": {"source": "#orders"}}]}, True),
    ({"filters": [{"suffix": {"source": "#payments"}}]}, False),
    # exact / prefix / suffix take any number of attributes, all of which must match.
    ({"filters": [{"exact": {"region": "eu", "type": "dev.knative.kafka.event", "subject": "partition:0#12"}}]},
     True),
    ({"filters": [{"exact": {"region": "eu", "type": "dev.knative.kafka.event", "subject": "partition:1#12"}}]},
     False),
    ({"filters": [{"prefix": {"region": "e", "type": "dev.", "subject": "partition:"}}]}, True),
    ({"filters": [{"suffix": {"region": "u", "source": "#orders", "missing": ""}}]}, False),
    ({"filters": [{"all": []}]}, True),
    ({"filters": [{"all": [{"exact": {"region": "eu"}}, {"prefix": {"type": "dev."}}]}]}, True),
    ({"filters": [{"all": [{"exact": {"region": "eu"}}, {"prefix": {"type": "com."}}]}]}, False),
    ({"filters": [{"any": []}]}, True),
    ({"filters": [{"any": [{"exact": {"region": "us"}}, {"suffix": {"subject": "#12"}}]}]}, True),
    ({"filters": [{"any": [{"exact": {"region": "us"}}, {"suffix": {"subject": "#13"}}]}]}, False),
    ({"filters": [{"not": {"exact": {"region": "us"}}}]}, True),
    ({"filters": [{"not": {"exact": {"region": "eu"}}}]}, False),
    ({"filters": [{"cesql": ""}]}, True),
    ({"filters": [{"cesql": "region = 'eu' AND type LIKE 'dev.knative.%'"}]}, True),
    ({"filters": [{"cesql": "region = 'us'"}]}, False),
    ({"filters": [{"cesql": "missing = 'x'"}]}, False),  # an evaluation error fails
    ({"filters": [{"cesql": "EXISTS missing"}]}, False),
    ({"filters": [{"cel": "region == 'eu' && data.score > 0.5"}]}, True),
    ({"filters": [{"cel": "data.label == 'negative'"}]}, False),
    ({"filters": [{"cel": "missing == 'x'"}]}, False),  # an evaluation error fails
    # Filters and filter: a non-empty `filters` wins; an empty one does not override.
    ({"filter": {"attributes": {"region": "us"}}, "filters": [{"exact": {"region": "eu"}}]}, True),
    ({"filter": {"attributes": {"region": "eu"}}, "filters": [{"exact": {"region": "us"}}]}, False),
    ({"filter": {"attributes": {"region": "us"}}, "filters": []}, False),
    # Several filters are ANDed.
    ({"filters": [{"exact": {"region": "eu"}}, {"exact": {"type": "other"}}]}, False),
])
def test_filter_matrix(spec: dict, passes: bool) -> None:
    assert compile_trigger(spec)(EVENT) is passes


def test_cel_sees_non_json_data_as_text() -> None:
    event = Event({**EVENT.attributes, "datacontenttype": "text/plain"}, b"hello")
    assert compile_trigger({"filters": [{"cel": "data == 'hello'"}]})(event)
