"""`kproof pipeline`: runs Benthos-style stream configs (seed 002's populate and batch jobs) with a
PostgreSQL source and sink and a Knative Service in between."""
