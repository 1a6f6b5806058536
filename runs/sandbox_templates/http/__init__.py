"""The templates' API and pages."""
