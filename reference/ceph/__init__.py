"""A single-node Ceph with an object gateway, for seed 003 (object-store events into Knative): one monitor,
one OSD on memstore and one radosgw, started from Debian's packages the way Ceph's own developer setup
(src/vstart.sh) starts them (`cluster`), and the bucket notifications that push RGW's events to a source
(`notifications`)."""
