"""A small Stripe-compatible server on loopback for the tests: Checkout Sessions,
PaymentIntents and Refunds, which is all the app calls. (localstripe serves customers, payment intents
and invoices but no Checkout Sessions, so the tests use this instead of starting both.)

The stripe library talks to it over HTTP exactly as to Stripe; events are built here and
signed with the library's own ``WebhookSignature.generate_signature_header``.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from typing import Any

import stripe
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


class FakeStripe:
    def __init__(self) -> None:
        self.sessions: dict[str, dict[str, Any]] = {}
        self.intents: dict[str, dict[str, Any]] = {}
        self.by_key: dict[str, str] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.refund_keys: dict[str, str] = {}
        self.calls: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.server = make_server("127.0.0.1", 0, self.wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeStripe:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)

    # --- the API --------------------------------------------------------------------------

    def wsgi(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        self.calls.append((request.method, request.path))
        if not request.headers.get("Authorization", "").startswith("Bearer sk_test"):
            return self._json({"error": {"message": "Invalid API key"}}, 401)(
                environ, start_response
            )
        with self.lock:
            response = self._route(request)
        return response(environ, start_response)

    def _route(self, request: Request) -> Response:
        parts = request.path.strip("/").split("/")
        if request.method == "POST" and parts == ["v1", "checkout", "sessions"]:
            key = request.headers.get("Idempotency-Key", "")
            if key and key in self.by_key:
                return self._json(self.sessions[self.by_key[key]])
            session = self._new_session(request.form)
            if key:
                self.by_key[key] = session["id"]
            return self._json(session)
        if request.method == "GET" and parts[:3] == ["v1", "checkout", "sessions"]:
            found = self.sessions.get(parts[3])
            return self._json(found) if found else self._missing()
        if request.method == "POST" and parts == ["v1", "refunds"]:
            key = request.headers.get("Idempotency-Key", "")
            if key and key in self.refund_keys:
                return self._json(self.refunds[self.refund_keys[key]])
            intent = self.intents.get(request.form.get("payment_intent", ""))
            if intent is None:
                return self._missing()
            amount = int(request.form["amount"])
            if amount > intent["amount"] - intent.get("amount_refunded", 0):
                return self._json(
                    {
                        "error": {
                            "type": "invalid_request_error",
                            "message": "Refund is greater than unrefunded amount",
                        }
                    },
                    400,
                )
            intent["amount_refunded"] = intent.get("amount_refunded", 0) + amount
            refund = {
                "id": f"re_test_{secrets.token_hex(12)}",
                "object": "refund",
                "amount": amount,
                "payment_intent": intent["id"],
                "status": "succeeded",
            }
            self.refunds[refund["id"]] = refund
            if key:
                self.refund_keys[key] = refund["id"]
            return self._json(refund)
        if request.method == "GET" and parts[:2] == ["v1", "payment_intents"]:
            found = self.intents.get(parts[2])
            return self._json(found) if found else self._missing()
        return self._missing()

    def _new_session(self, form: Any) -> dict[str, Any]:
        session_id = f"cs_test_{secrets.token_hex(12)}"
        metadata = {
            key[len("metadata[") : -1]: value
            for key, value in form.items()
            if key.startswith("metadata[")
        }
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": form.get("mode"),
            "status": "open",
            "payment_status": "unpaid",
            "amount_total": int(form["line_items[0][price_data][unit_amount]"]),
            "currency": form["line_items[0][price_data][currency]"],
            "client_reference_id": form.get("client_reference_id"),
            "metadata": metadata,
            "payment_intent": None,
            "success_url": form.get("success_url"),
            "url": f"{self.url}/pay/{session_id}",
        }
        self.sessions[session_id] = session
        return session

    @staticmethod
    def _json(body: dict[str, Any], status: int = 200) -> Response:
        return Response(json.dumps(body), status=status, mimetype="application/json")

    def _missing(self) -> Response:
        return self._json({"error": {"type": "invalid_request_error", "message": "No such"}}, 404)

    # --- what a customer and Stripe do ----------------------------------------------------

    def pay(self, session_id: str) -> dict[str, Any]:
        """The customer pays on the hosted page: the session completes, an intent succeeds."""
        with self.lock:
            session = self.sessions[session_id]
            intent_id = f"pi_test_{secrets.token_hex(12)}"
            self.intents[intent_id] = {
                "id": intent_id,
                "object": "payment_intent",
                "amount": session["amount_total"],
                "currency": session["currency"],
                "status": "succeeded",
                "metadata": dict(session["metadata"]),
            }
            session.update(status="complete", payment_status="paid", payment_intent=intent_id)
            return session

    @staticmethod
    def event(event_type: str, obj: dict[str, Any], event_id: str | None = None) -> str:
        return json.dumps(
            {
                "id": event_id or f"evt_test_{secrets.token_hex(12)}",
                "object": "event",
                "type": event_type,
                "created": int(time.time()),
                "data": {"object": obj},
            }
        )

    @staticmethod
    def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
        return stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp)
