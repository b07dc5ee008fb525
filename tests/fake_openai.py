"""An OpenAI-compatible server for tests, on 127.0.0.1, started and stopped by the test."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeServer:
    """An OpenAI-compatible stand-in on 127.0.0.1 (``/completions`` and ``/chat/completions``):
    answers the scripted statuses first, then succeeds; counts requests and the most it ever had
    in flight at once."""

    def __init__(
        self, statuses=(), delay_s=0.0, echo_auth=False, token_ids=True, reply=lambda content: content, error=None
    ):
        self.statuses, self.delay_s, self.echo_auth, self.token_ids = list(statuses), delay_s, echo_auth, token_ids
        self.error = error  # the message of an error response, where a test sets it
        self.reply = reply  # chat route: the assistant's text for the last user message
        self.bodies: list[dict] = []
        self.requests = self.in_flight = self.max_in_flight = 0
        self.auth: list[str | None] = []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                auth = self.headers.get("Authorization")
                with server.lock:
                    server.requests += 1
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                    server.auth.append(auth)
                    server.bodies.append(body)
                    status = server.statuses.pop(0) if server.statuses else 200
                try:
                    time.sleep(server.delay_s)
                    if status != 200:
                        text = f"error; you sent {auth}" if server.echo_auth else server.error or "error"
                        self._send(status, {"error": {"message": text}})
                    else:
                        self._send(200, server.completion(body))
                finally:
                    with server.lock:
                        server.in_flight -= 1

            def _send(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def completion(self, body: dict) -> dict:
        choices = []
        for i in reversed(range(body["n"])):  # out of order on purpose: the client sorts by index
            if "messages" in body:  # the chat route: the reply is the assistant message
                text = self.reply(body["messages"][-1]["content"])
                choices.append({"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"})
                continue
            text = f"{body['prompt']}|{i}</think>done"
            choice = {"index": i, "text": text, "finish_reason": "stop" if i == 0 else "length"}
            if self.token_ids:
                choice["token_ids"] = list(range(3 + i))
            choices.append(choice)
        return {"choices": choices, "usage": {"prompt_tokens": 7, "completion_tokens": 99}}

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
