"""Drives odex-sim with the third-party `binance-connector` package (PyPI).

Usage: python binance_connector.py PORT. Exits non-zero on the first mismatch.
Uses the published documentation example HMAC key (odex-sim --doc-example-key).
"""
import sys

from binance.error import ClientError
from binance.spot import Spot

KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"

base = f"http://127.0.0.1:{sys.argv[1]}"
client = Spot(api_key=KEY, api_secret=SECRET, base_url=base)

assert "serverTime" in client.time()
info = client.exchange_info(symbol="ETHUSDT")
assert info["symbols"][0]["symbol"] == "ETHUSDT"
assert len(client.klines("ETHUSDT", "1m", limit=1)) == 1
book = client.depth("ETHUSDT", limit=5)
assert len(book["bids"]) == 5
top = client.book_ticker("ETHUSDT")
price = float(top["bidPrice"]) - 50

placed = client.new_order(symbol="ETHUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                          quantity="0.1000", price=f"{price:.2f}", newClientOrderId="py1")
assert placed["status"] == "NEW", placed
got = client.get_order("ETHUSDT", orderId=placed["orderId"])
assert got["clientOrderId"] == "py1", got
assert len(client.get_open_orders("ETHUSDT")) == 1
cancelled = client.cancel_order("ETHUSDT", orderId=placed["orderId"])
assert cancelled["status"] == "CANCELED", cancelled
market = client.new_order(symbol="ETHUSDT", side="BUY", type="MARKET", quantity="0.0100")
assert market["status"] == "FILLED" and market["fills"], market
balances = {b["asset"]: b for b in client.account()["balances"]}
assert float(balances["ETH"]["free"]) > 10, balances

bad = Spot(api_key=KEY, api_secret="wrong" + SECRET[5:], base_url=base)
try:
    bad.new_order(symbol="ETHUSDT", side="BUY", type="MARKET", quantity="0.0100")
    raise SystemExit("a wrong signature was accepted")
except ClientError as e:
    assert e.error_code == -1022, (e.status_code, e.error_code, e.error_message)
print("binance-connector: ok")
