# A setting is imported by its key. A sensitive default stays in the store:
# state records only sensitive_default_revision.
terraform import tokenward_setting.session_timeout session.timeout_minutes
