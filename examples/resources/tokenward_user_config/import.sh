# A user's values are imported by user id.
terraform import tokenward_user_config.alice alice@example.com
