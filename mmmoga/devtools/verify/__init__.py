"""Checks that train the real configs in subprocesses: exact resume after a kill
(``tools/misc/verify_resume.py``) and fault injection (``tools/misc/verify_faults.py``)."""
