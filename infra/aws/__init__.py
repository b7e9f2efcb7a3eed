"""AWS-side infrastructure: the IoT rule table, policies, template merge and deploy tooling."""
