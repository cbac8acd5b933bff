"""The load test of `rollout loadtest` (seed 002 Task 1), with Locust.

  profiles.py   load shapes as tables of phases (the seed's, smoke, or a file of your own)
  scenarios.py  the four weighted skill scenarios and their legal payloads
  target.py     the target URL, checked, and shown without its secrets
  launch.py     the CLI side: probe the target, start the worker, read its progress
  worker.py     the child process that imports Locust and runs it headless
  figures.py    Locust's statistics turned into the summary's figures
  render.py     the judged summary as a table or markdown
  record.py     the history row of kind `loadtest` (the evidence a readiness gate reads)

Only worker.py and figures.py import Locust: Locust imports gevent, which monkey-patches
the standard library of the process that imports it, so it runs in a child process and
the command line keeps its cold start and its ordinary sockets.
"""
