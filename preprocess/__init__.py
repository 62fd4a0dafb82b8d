"""The preprocess job: manifests → decoded clips → sharded TFRecords (Apache Beam)."""
