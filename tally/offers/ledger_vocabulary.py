"""The offers feature's ledger vocabulary (registered with the ledger at start-up).

A customer buys an offer from its wallet (``tally.credit.ledger_vocabulary.CUSTOMER_WALLET``):
the price is reserved by a pending transfer wallet → offer revenue when the activation is
accepted, posted when the provider activated it, voided when it failed.
"""

from tally.ledger.vocabulary import account_kind_register, transfer_code_register

# What customers paid for activated offers.
OFFER_REVENUE = account_kind_register("offer_revenue", label="Offer revenue", owned=False)

OFFER_ACTIVATION = transfer_code_register("offer_activation", label="Offer activation")
