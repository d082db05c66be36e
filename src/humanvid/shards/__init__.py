"""Parquet shards v1: schema, writer, reader, training samples."""

from humanvid.shards.reader import ShardError, ShardReader
from humanvid.shards.samples import ReferenceClipSamples, SampleSpec
from humanvid.shards.schema import SCHEMA_VERSION
from humanvid.shards.writer import write_shards

__all__ = ["SCHEMA_VERSION", "ReferenceClipSamples", "SampleSpec", "ShardError", "ShardReader", "write_shards"]
