"""The Redis key layout, in one place.

Every key of a queue lives under ``<prefix>:{<queue>}:`` so that all of one queue's keys hash
to the same Redis Cluster slot (the ``{...}`` is a hash tag). Each Lua script declares the
base as its one key (KEYS[1]), which sends it to the node owning that slot, and touches only
keys built from it (see scripts.py). The only global key is the set of queue names, written
by plain commands (tests/test_cluster.py runs all of it on a real cluster).

====================  =========  =====================================================
key (after the base)  type       holds
====================  =========  =====================================================
``<state>``           zset       ids of jobs in that state. waiting: score is the
                                 priority/FIFO order; scheduled: due time (ms);
                                 active: lease deadline (ms); finished states: finish
                                 time (ms)
``t:<state>:<task>``  zset       the same, for one task (filters and per-task counts)
``j:<id>``            hash       the job record: small fields only, so that Redis keeps
                                 it as a listpack (compact.py)
``m:<id>``            string     the exact Huey message, kept until the job completes
``x:<id>``            string     the job's big fields as frames (compact.py): whole
                                 payloads, error, failed attempts
``l:<id>``            list       log lines ``[ts_ms, text]`` JSON (capped)
``v:<id>``            list       timeline events ``[ts_ms, kind, text]`` JSON (capped)
``fl:<chord|group>``   hash       a chord's or group's members: place -> job id
                                 (TTL 30 d; members hold their flow in ``flow``)
``fcb:<callback id>`` string     the chord a callback waits for (TTL 30 d)
``paused``            string     present while the queue is paused
``wake``              list       tokens that wake consumers blocked on an empty queue
``seq``               counter    FIFO sequence inside one priority; also numbers jobs
                                 for the search index (a record's ``n``)
``tasks``             set        task names seen in this queue
``mx:<minute>``       hash       per-minute counters and histograms (TTL 48 h)
``md:<day>``          hash       per-day rollup of the same (TTL 90 d)
``consumers``         zset       consumer id -> last heartbeat (ms)
``c:<consumer id>``   hash       a consumer's registry entry (TTL)
``periodic``          hash       periodic task name -> JSON registration
``pp``                set        paused periodic task names
``pl``                hash       periodic task name -> "state|ts_ms|job id|enqueuing
                                 consumer" of its last run
``ptick``             hash       periodic task name -> last schedule minute enqueued
``results``           hash       Huey's own result store
``rv``                counter    present once Huey revoke flags (``r:<id>``, ``rt:<task>``
                                 in ``results``) may exist: only then does a take read them
``rvscan``            string     present once flags older than ``rv`` were looked for
``counters``          hash       Huey's own counters (chords)
``ix:id``             zset       search: every job id, lower case, score 0 (prefixes)
``ix:n:<n // 128>``   hash       search: job number (field n % 128) -> job id
``ix:w:<tok>:<c>``    set        search: offsets n % 512 of the jobs holding token tok,
                                 among n // 512 == c (a 16-bit intset), when 2 or more
``ix:d:<tok>``        zset       search: the chunks c that have postings of tok
                                 (member c; score c, or c + (o + 1) / 1024 for a
                                 single posting at offset o, kept inline: no set)
``ix:c:<c>``          list       search: the tokens with postings in chunk c (to drop)
``ix:s:<c>``          set        search: the tokens that have a set in chunk c
``ix:x:<c>``          set        search: offsets of chunk c's jobs gone from the index
                                 (lazy deletion: their postings stay until the chunk dies)
``ix:xd``             set        search: the chunks that have an ``ix:x:<c>``
``ix:gc``             zset       search: dead chunks whose postings are being dropped
====================  =========  =====================================================
"""

from __future__ import annotations

DEFAULT_PREFIX = "jb"


def queue_base(prefix: str, queue: str) -> str:
    """The common start of every key of ``queue``, hash tag included."""
    return f"{prefix}:{{{queue}}}:"


def queues_key(prefix: str) -> str:
    """The global set of queue names."""
    return f"{prefix}:queues"


def alerts_key(prefix: str, part: str) -> str:
    """A key of the alert sender (jobboard.alerts): ``lease`` (string: who sends),
    ``state`` (hash: condition -> JSON), ``deliveries`` (list, capped), ``rate:<minute>``
    and ``suppressed`` (counters). Each is used alone, never in a script with another."""
    return f"{prefix}:alerts:{part}"


class QueueKeys:
    """Key names of one queue."""

    __slots__ = ("prefix", "queue", "base")

    def __init__(self, prefix: str, queue: str) -> None:
        self.prefix = prefix
        self.queue = queue
        self.base = queue_base(prefix, queue)

    def state(self, state: str) -> str:
        return self.base + state

    def task_state(self, state: str, task: str) -> str:
        return f"{self.base}t:{state}:{task}"

    def record(self, job_id: str) -> str:
        return f"{self.base}j:{job_id}"

    def message(self, job_id: str) -> str:
        return f"{self.base}m:{job_id}"

    def blob(self, job_id: str) -> str:
        return f"{self.base}x:{job_id}"

    def logs(self, job_id: str) -> str:
        return f"{self.base}l:{job_id}"

    def events(self, job_id: str) -> str:
        return f"{self.base}v:{job_id}"

    def flow_index(self, flow_id: str) -> str:
        return f"{self.base}fl:{flow_id}"

    def chord_of_callback(self, job_id: str) -> str:
        return f"{self.base}fcb:{job_id}"

    def minute(self, minute: int) -> str:
        return f"{self.base}mx:{minute}"

    def day(self, day: int) -> str:
        return f"{self.base}md:{day}"

    def consumer(self, consumer_id: str) -> str:
        return f"{self.base}c:{consumer_id}"

    def token_chunk(self, token: str, chunk: int) -> str:
        return f"{self.base}ix:w:{token}:{chunk}"

    def token_chunks(self, token: str) -> str:
        return f"{self.base}ix:d:{token}"

    def job_numbers(self, n: int) -> str:
        return f"{self.base}ix:n:{n // 128}"

    @property
    def ids(self) -> str:
        return self.base + "ix:id"

    @property
    def paused(self) -> str:
        return self.base + "paused"

    @property
    def wake(self) -> str:
        return self.base + "wake"

    @property
    def tasks(self) -> str:
        return self.base + "tasks"

    @property
    def consumers(self) -> str:
        return self.base + "consumers"

    @property
    def periodic(self) -> str:
        return self.base + "periodic"

    @property
    def periodic_paused(self) -> str:
        return self.base + "pp"

    @property
    def periodic_last(self) -> str:
        return self.base + "pl"

    @property
    def results(self) -> str:
        return self.base + "results"

    @property
    def hour_series(self) -> str:
        """Jobs finished per minute of the last hour, one small hash (fields
        ``<minute>done`` / ``<minute>fail``): what the overview's sparklines and failure
        rates read in one command instead of 60 minute hashes."""
        return self.base + "hs"

    @property
    def counters(self) -> str:
        return self.base + "counters"

    @property
    def revokes(self) -> str:
        return self.base + "rv"
