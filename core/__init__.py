"""The ground floor: settings, errors and shared domain types. Imports nothing of ours."""
