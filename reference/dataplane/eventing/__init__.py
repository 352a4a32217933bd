"""The eventing data plane (in the data plane process): the multi-tenant broker's ingress and trigger
dispatch, the in-memory channel, the Kafka-class broker and KafkaSink, and KafkaSource's dispatcher."""
