"""The benchmark harness (issue 5): decision clicks, intake, delivery and memory.

Usage, from the repository root::

    .venv/bin/python -m bench.run [--quick] [--runs N] [--json out.json]
                                  [--skip-postgres] [--serial] [--profile DIR]

Starts everything itself, on 127.0.0.1 only: a fake Bot Connector that enforces Teams'
limits (bench/fake_connector.py, in this process), the stock botbuilder echo bot
(bench/echo_bot.py, its own process), and one ``frakturkedjan serve --local`` process per
database (SQLite WAL in a temporary folder; PostgreSQL in a scratch database created and
dropped here, when PostgreSQL answers). The load generator (bench/loadgen.py) runs here.

Measurements (bench/README.md explains each):

1. decision click: ``case.decide`` invokes on fresh cases, 16 concurrent clients, against
   the stock echo bot answering the same invokes in the same run;
2. intake: FHIR bundles with unique identifiers, 16 concurrent senders;
3. delivery: cards written into the outbox for 40 conversations, sent by the bot's own
   outbox worker and ConnectorClient to the limit-enforcing fake connector, once cleanly
   and once with 5 % seeded 500/503 answers;
4. memory: peak RSS (VmHWM) of each ``serve`` process through all of the above.

Prints a table (median of the runs, pass/fail per target) and writes it as JSON.

The modules, from the bottom up:

- ``plan``: how much work a run does (full, quick) and the targets;
- ``directory``: the benchmark's units, physicians and MVAs;
- ``payloads``: what is sent to the bot (Teams activities, FHIR bundles) and the checks
  of its answers;
- ``processes``: child processes, their CPU and memory; ``profiler``: py-spy;
- ``postgres``: the scratch PostgreSQL database;
- ``legs``: one database and its ``serve`` process;
- ``intake``, ``click``, ``delivery``: one measurement each;
- ``report``: medians, verdicts, the table, the machine;
- ``harness``: everything above, in order, and the cleanup; ``cli``: the command.
"""
