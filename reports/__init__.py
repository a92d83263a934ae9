"""Report writers: one module per format, each implementing reports.interface.ReportWriter."""
