"""From specs to a plan: desired state, rollout batches, traffic, quota, limits, promotion
steps and the diff of two states (review). Pure: no Pulumi, no I/O."""
