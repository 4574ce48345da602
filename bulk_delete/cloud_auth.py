"""The store an object URL needs, with the credentials the clouds' own tools would use.

The environment is the whole configuration, read by object_store (through obstore) as the
clouds' SDKs read it:

- S3: ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``, ``AWS_REGION``,
  ``AWS_ENDPOINT_URL`` and ``AWS_ALLOW_HTTP`` (MinIO and other S3-compatible stores), a
  Kubernetes service account's role (``AWS_ROLE_ARN`` + ``AWS_WEB_IDENTITY_TOKEN_FILE``), the
  ECS / EKS Pod Identity container endpoint, the EC2 instance role. ``AWS_PROFILE``, which
  object_store does not read, goes to boto3 (``pip install 'bulk-delete[aws-profile]'``).
- GCS: ``GOOGLE_APPLICATION_CREDENTIALS`` (or ``GOOGLE_SERVICE_ACCOUNT*``), else gcloud's
  application default credentials or the GCE/GKE metadata server.
- Azure: ``AZURE_STORAGE_ACCOUNT_NAME`` with ``AZURE_STORAGE_ACCOUNT_KEY``, a SAS token, a
  service principal, workload identity, else a managed identity.

Errors say which of these was used, never a secret: :func:`scrub` takes every secret the
environment holds out of a message from the store.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from obstore.store import HTTPStore, ObjectStore, from_url

from bulk_delete.errors import InputError

#: A store that does not answer fails in seconds, not after object_store's three minutes.
RETRY: Any = {"max_retries": 3, "retry_timeout": timedelta(seconds=30),
              "backoff": {"init_backoff": timedelta(milliseconds=100),
                          "max_backoff": timedelta(seconds=5), "base": 2}}
#: Per cloud, the first set variable names the credential source; the last entry is the
#: source used when none is set.
SOURCES: dict[str, tuple[tuple[str, str], ...]] = {
    "s3": (("AWS_ACCESS_KEY_ID", "the access key in AWS_ACCESS_KEY_ID"),
           ("AWS_PROFILE", "the profile {} (AWS_PROFILE, read by boto3)"),
           ("AWS_ROLE_ARN", "the role {} (AWS_ROLE_ARN, through the web identity token: a "
                            "Kubernetes service account)"),
           ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "the container credentials endpoint (EKS "
                                                  "Pod Identity)"),
           ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "the container credentials endpoint "
                                                      "(an ECS task role)"),
           ("", "the EC2 instance role, if any (no AWS_ACCESS_KEY_ID, AWS_PROFILE or "
                "AWS_ROLE_ARN is set)")),
    "gs": (("GOOGLE_SERVICE_ACCOUNT", "the service account key file {} "
                                      "(GOOGLE_SERVICE_ACCOUNT)"),
           ("GOOGLE_SERVICE_ACCOUNT_PATH", "the service account key file {} "
                                           "(GOOGLE_SERVICE_ACCOUNT_PATH)"),
           ("GOOGLE_SERVICE_ACCOUNT_KEY", "the service account key in "
                                          "GOOGLE_SERVICE_ACCOUNT_KEY"),
           ("GOOGLE_APPLICATION_CREDENTIALS", "the credentials file {} "
                                              "(GOOGLE_APPLICATION_CREDENTIALS)"),
           ("", "application default credentials (gcloud's, or the GCE/GKE metadata "
                "server's)")),
    "az": (("AZURE_STORAGE_ACCOUNT_KEY", "the account key in AZURE_STORAGE_ACCOUNT_KEY"),
           ("AZURE_STORAGE_SAS_TOKEN", "the SAS token in AZURE_STORAGE_SAS_TOKEN"),
           ("AZURE_CLIENT_SECRET", "the service principal in AZURE_CLIENT_ID and "
                                   "AZURE_CLIENT_SECRET"),
           ("AZURE_FEDERATED_TOKEN_FILE", "workload identity (AZURE_FEDERATED_TOKEN_FILE)"),
           ("AZURE_USE_AZURE_CLI", "the Azure CLI's login"),
           ("", "a managed identity, if any (no AZURE_STORAGE_* credentials are set)")),
}
#: Variables whose values are secrets, taken out of every message.
SECRETS = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
           "GOOGLE_SERVICE_ACCOUNT_KEY", "AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_ACCESS_KEY",
           "AZURE_STORAGE_MASTER_KEY", "AZURE_STORAGE_SAS_KEY", "AZURE_STORAGE_SAS_TOKEN",
           "AZURE_STORAGE_TOKEN", "AZURE_CLIENT_SECRET", "AZURE_STORAGE_CLIENT_SECRET")
#: URL schemes by the cloud whose credentials they use.
CLOUDS = {"s3": "s3", "s3a": "s3", "gs": "gs", "az": "az", "abfs": "az", "abfss": "az",
          "adl": "az", "azure": "az", "https": "http", "http": "http"}


@dataclass(frozen=True)
class Store:
    """A bucket (or container, or web server) to read from, and how it is reached."""

    #: Not in the repr: obstore's Azure store cannot show itself without an account name.
    store: ObjectStore = field(repr=False)
    #: Where its credentials come from, said without them.
    credentials: str


def store_for(scheme: str, root: str) -> Store:
    """The store at ``root`` (``s3://bucket``, ``https://host``), credentials from the
    environment."""
    cloud = CLOUDS[scheme]
    if cloud == "http":
        http = HTTPStore(root, retry_config=RETRY, client_options={"allow_http": True})
        return Store(http, "none (a plain download)")
    source = credential_source(cloud)
    if cloud == "s3" and source.startswith("the profile"):
        return Store(from_url(root, credential_provider=_profile(), retry_config=RETRY), source)
    return Store(from_url(root, retry_config=RETRY), source)


def credential_source(cloud: str) -> str:
    """Which credentials a store of ``cloud`` uses, named without their value."""
    for variable, said in SOURCES[cloud]:
        if not variable or os.environ.get(variable):
            return said.format(os.environ.get(variable, ""))
    raise AssertionError("every cloud's last source needs no variable")


def scrub(message: str) -> str:
    """``message`` without any secret the environment holds."""
    for variable in SECRETS:
        secret = os.environ.get(variable, "")
        if len(secret) >= 4:
            message = message.replace(secret, "[REDACTED]")
    return message


def _profile() -> Any:
    """A credential provider for AWS_PROFILE: boto3 reads profiles, SSO and assumed roles."""
    try:
        from obstore.auth.boto3 import Boto3CredentialProvider  # noqa: PLC0415 - optional
    except ImportError:
        raise InputError("AWS_PROFILE is set, and reading a profile needs boto3: pip install "
                         "'bulk-delete[aws-profile]', or set AWS_ACCESS_KEY_ID and "
                         "AWS_SECRET_ACCESS_KEY, or use a role") from None
    import boto3  # noqa: PLC0415 - present when the provider imported

    return Boto3CredentialProvider(boto3.Session(profile_name=os.environ["AWS_PROFILE"]))
