"""The report: its data model and JSON, assembly from timings, figures and statistics over reports."""
