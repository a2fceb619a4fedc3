"""Where the pipeline runs. The default engine is the Tagger itself, in this process (`lzt tag`).
The sharded engines write Parquet shards that survive interruptions: Ray Data across a cluster
(or an embedded local Ray), or this process for small jobs; stored embeddings can be re-scored
with another classifier without touching a pixel.

    from lzt.engines import tag_shards, read_shards, rescore
"""

from lzt.config import DEFAULT_SHARD_SIZE, RayConfig
from lzt.engines.run import ENGINES, ShardRun, rescore, rescore_shards, tag_shards
from lzt.engines.shards import TAR_MEMBER_SEPARATOR, read_shards, sidecar_records

__all__ = [
    "DEFAULT_SHARD_SIZE", "ENGINES", "TAR_MEMBER_SEPARATOR", "RayConfig", "ShardRun", "read_shards", "rescore", "rescore_shards",
    "sidecar_records", "tag_shards",
]
