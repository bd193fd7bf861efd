"""Test harness: local Kubernetes control planes, controller simulators, module runner."""
