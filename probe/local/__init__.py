"""The volunteer's machine: settings, consent, keys, where files live, the run lock, the upload spool and
uploader, the schedule, the run history and retention of results. Nothing here measures or judges."""
