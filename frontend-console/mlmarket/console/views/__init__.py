"""The console's blueprints: jobs, create, submit, outputs, funds, account and the JSON API."""
