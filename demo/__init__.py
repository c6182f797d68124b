"""The jobboard demo: a clinic app whose background jobs run on Huey and show in jobboard.

Modules:

- :mod:`demo.settings` -- configuration read from the environment (``REDIS_URL`` ...);
- :mod:`demo.payloads` -- validation of the producer helpers' payloads;
- :mod:`demo.mail`, :mod:`demo.sms`, :mod:`demo.reports`, :mod:`demo.clinic` -- what the
  tasks in ``worker.py`` actually do (render and deliver email, write CSV files, keep the
  clinic's appointments and in-app inbox in Redis);
- :mod:`demo.seed` -- fills in a realistic job history;
- :mod:`demo.run` -- ``python -m demo``: Redis, consumers, gunicorn, seeding, clean stop.
"""
