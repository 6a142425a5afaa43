#!/usr/bin/env python3
"""Pushes one file with the ORAS Python SDK, optionally with Basic credentials for the token flow.

Usage: oras_push_auth.py HOST:PORT REPOSITORY:TAG FILE [USERNAME PASSWORD]
Without credentials the SDK asks for anonymous tokens. Prints the push status; exits
non-zero when the registry refuses the push.

oras-py (0.2.x) keeps a single cached token and, on a 401 with error="insufficient_scope",
retries with that same token (it drops it only on a 403). Its first request of a push
(a HEAD of the blob) is challenged for pull only, so the cached token would never carry
push. As with `oras login`, the script therefore has the SDK's own token request fetch a
token for pull,push on the repository up front, from the realm of the `GET /v2/` challenge.
"""
import sys

import oras.auth.utils
import oras.client


def main():
    host, reference, path = sys.argv[1:4]
    client = oras.client.OrasClient(hostname=host, insecure=True)
    if len(sys.argv) > 5:
        client.auth.set_basic_auth(sys.argv[4], sys.argv[5])
        ping = client.session.get(f"http://{host}/v2/")
        challenge = oras.auth.utils.parse_auth_header(ping.headers.get("Www-Authenticate", ""))
        repository = reference.rsplit(":", 1)[0]
        challenge.scope = f"repository:{repository}:pull,push"
        token = client.auth.request_token(challenge)
        if token:
            client.auth.set_token_auth(token)
    response = client.push(target=f"{host}/{reference}", files=[path], disable_path_validation=True)
    print(response.status_code)
    if response.status_code != 201:
        sys.exit(f"push refused: {response.status_code}")


if __name__ == "__main__":
    main()
