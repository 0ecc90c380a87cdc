"""SQL for meters, plan quotas and usage. A count is a guarded upsert: the counter row's
lock serializes concurrent events and the guard refuses an increment past a hard limit,
across processes: one event at a time (`counts`) or many (`together`). Counts that draw
from quota packs lock the counter row first (`UsageRepository.lock_counter`)."""
