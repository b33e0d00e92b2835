"""A readable index of the JSON API, rendered from its OpenAPI document (served locally:
the usual interactive viewers load scripts from the internet, which a hospital network and
our CSP do not allow)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from hemma.web.deps import Public
from hemma.web.templating import render

router = APIRouter()


@router.get("/api/docs", dependencies=[Depends(Public())], include_in_schema=False)
def api_docs(request: Request):
    """The API documentation page."""
    spec = request.app.openapi()
    operations = []
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            body = (op.get("requestBody", {}).get("content", {})
                    .get("application/json", {}).get("schema", {}).get("$ref", ""))
            operations.append({
                "method": method.upper(), "path": path, "summary": op.get("summary", ""),
                "description": op.get("description", ""), "tags": op.get("tags", []),
                "body": body.rsplit("/", 1)[-1] if body else None,
            })
    schemas = spec.get("components", {}).get("schemas", {})
    return render(request, "api_docs.html", {"operations": operations, "schemas": schemas,
                                             "title": spec["info"]["title"],
                                             "description": spec["info"].get("description")})
