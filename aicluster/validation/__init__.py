"""The validate stage: one check per conformance requirement, evidence, and submission artifacts."""
