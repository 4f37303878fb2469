"""The credit feature's ledger vocabulary (registered with the ledger at start-up)."""

from tally.ledger.vocabulary import account_kind_register, transfer_code_register

# A vendor's prepaid credit line: what it sells charges and funds wallets from. Floored.
VENDOR_PREPAID = account_kind_register(
    "vendor_credit", label="Vendor prepaid credit", owned=True, floored=True
)
# A customer's wallet: funded by vendors, spent on offers and orders. Floored.
CUSTOMER_WALLET = account_kind_register(
    "customer_wallet", label="Customer wallet", owned=True, floored=True
)
# Where prepaid credit comes from: the counter-account of every credit issued to a vendor.
ISSUANCE = account_kind_register("issuance", label="Issuance", owned=False)

CREDIT_INCREASE = transfer_code_register("credit_increase", label="Credit increase")
CREDIT_REQUEST = transfer_code_register("credit_request", label="Credit request approved")
CUSTOMER_CREDIT = transfer_code_register("customer_credit", label="Customer wallet credit")
