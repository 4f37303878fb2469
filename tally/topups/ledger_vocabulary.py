"""The top-ups feature's ledger vocabulary (registered with the ledger at start-up)."""

from tally.ledger.vocabulary import account_kind_register, transfer_code_register

# What Tally owes the airtime operators for the charges vendors sold.
AIRTIME_SETTLEMENT = account_kind_register(
    "airtime_settlement", label="Airtime settlement", owned=False
)

CHARGE_SALE = transfer_code_register("charge_sale", label="Charge sale")
