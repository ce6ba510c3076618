"""The native REST door: controllers for jobs, sessions and speakers, their bodies and errors."""
