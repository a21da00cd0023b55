"""The torture suite's history checker: reads a run directory's ``history.jsonl`` and
``run.json``, judges them against what DESIGN.md promises per consistency level, and writes
a report. It imports nothing of the database it checks (a test enforces it): a checker that
shared the product's code could share its bugs. DESIGN.md here says what is checked and how."""
