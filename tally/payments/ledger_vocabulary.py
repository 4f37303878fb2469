"""The payments feature's ledger vocabulary (registered with the ledger at start-up).

A captured payment is split, in the transaction that captures it, by transfers out of the
paying gateway's clearing account: each vendor's share of its lines to its earnings account
(less the platform's commission), the commission and the shipping to the platform's
commission account, the tax to the tax account. A card gateway's clearing account therefore
goes negative by what the gateway owes the platform (captured minus settled with the
gateway); a wallet payment first moves the total from the customer's wallet into the wallet
clearing account, so that one nets to zero. Refunds move the same ways back.
"""

from tally.ledger.vocabulary import account_kind_register, transfer_code_register

# What each vendor has earned from paid orders (owned by the vendor's user). Floored.
VENDOR_EARNINGS = account_kind_register(
    "vendor_earnings", label="Vendor earnings", owned=True, floored=True
)
# The platform's commission on order lines, and the shipping it charged.
PLATFORM_COMMISSION = account_kind_register(
    "platform_commission", label="Platform commission", owned=False
)
# Tax collected on orders, owed to the tax authority.
TAX_COLLECTED = account_kind_register("tax_collected", label="Tax collected", owned=False)
# One clearing account per gateway: what that gateway owes the platform (cards), or a pass
# through (wallet).
CLEARING_SANDBOX = account_kind_register(
    "clearing_sandbox", label="Clearing: sandbox gateway", owned=False
)
CLEARING_SSLCOMMERZ = account_kind_register(
    "clearing_sslcommerz", label="Clearing: SSLCommerz", owned=False
)
CLEARING_WALLET = account_kind_register("clearing_wallet", label="Clearing: wallet", owned=False)
CLEARING_MANUAL = account_kind_register(
    "clearing_manual", label="Clearing: cash and bank transfers", owned=False
)

# The buyer's money reaching the platform (wallet → wallet clearing).
ORDER_PAYMENT = transfer_code_register("order_payment", label="Order payment")
# A captured payment split between vendors, commission and tax.
ORDER_SETTLEMENT = transfer_code_register("order_settlement", label="Order settlement")
# A refund's movements back (splits reversed; wallet clearing → wallet).
ORDER_REFUND = transfer_code_register("order_refund", label="Order refund")
