"""FHIR R4 beside Hemma's own JSON API, over the same services and the same access check."""
