"""A Python client generated from our OpenAPI document (openapi-python-client) works end to end."""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.factories import Identity

PACKAGE = "llma_generated_client"


async def _generate(app: Any, folder: Path) -> None:
    (folder / "schema.json").write_text(json.dumps(app.openapi()))
    (folder / "config.yaml").write_text("post_hooks: []\n")
    generator = Path(sys.executable).with_name("openapi-python-client")
    process = await asyncio.create_subprocess_exec(
        str(generator),
        "generate",
        "--path",
        str(folder / "schema.json"),
        "--config",
        str(folder / "config.yaml"),
        "--meta",
        "none",
        "--output-path",
        str(folder / PACKAGE),
        "--overwrite",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode == 0, output.decode()


async def test_generated_client_round_trip(app: Any, identity: Identity, tmp_path: Path) -> None:
    await _generate(app, tmp_path)
    sys.path.insert(0, str(tmp_path))
    try:
        client_module = importlib.import_module(PACKAGE)
        models = importlib.import_module(f"{PACKAGE}.models")

        def operation(group: str, name: str) -> Any:
            return importlib.import_module(f"{PACKAGE}.api.{group}.{name}")

        create_dataset = operation("datasets", "create_dataset")
        retrieve_dataset = operation("datasets", "retrieve_dataset")
        create_item = operation("dataset_items", "create_dataset_item")
        list_items = operation("dataset_items", "list_dataset_items")
        list_keys = operation("provider_keys", "list_provider_keys")

        client = client_module.AuthenticatedClient(base_url="http://testserver", token="unused")
        client.set_async_httpx_client(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://testserver",
                headers=identity.headers,
            )
        )
        team = str(identity.team.id)
        created = await create_dataset.asyncio(
            environment_id=team, client=client, body=models.DatasetCreate(name="Generated")
        )
        assert isinstance(created, models.DatasetRead)
        assert created.name == "Generated"
        assert created.team == identity.team.id

        item = await create_item.asyncio(
            environment_id=team,
            client=client,
            body=models.DatasetItemCreate(dataset=str(created.id)),
        )
        assert isinstance(item, models.DatasetItemRead)

        fetched = await retrieve_dataset.asyncio(
            environment_id=team, id=str(created.id), client=client
        )
        assert isinstance(fetched, models.DatasetRead)
        assert fetched.id == created.id

        page = await list_items.asyncio(environment_id=team, client=client, dataset=str(created.id))
        assert page.count == 1
        assert page.results[0].id == item.id

        listed = await list_keys.asyncio(environment_id=team, client=client)
        assert listed.count == 0

        missing = await retrieve_dataset.asyncio_detailed(
            environment_id=team, id="00000000-0000-0000-0000-000000000000", client=client
        )
        assert missing.status_code == 404
        assert isinstance(missing.parsed, models.ErrorBody)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n.startswith(PACKAGE)]:
            del sys.modules[name]
