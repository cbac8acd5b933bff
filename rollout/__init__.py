"""GitOps rollout controller: the committed percentage is the desired state."""
