"""Features own their ledger vocabulary; transfer kinds say one thing each.

- Account kinds and transfer codes are plain text checked for format only: the features
  register them (``tally.ledger.vocabulary``), so a new feature never migrates the ledger.
- Transfer kinds are renamed so that "posted" means only a pending transfer's outcome:
  posted → immediate, post → post_pending, void → void_pending, expire → expire_pending.
  Transfers are append-only (migration 0002); the rename is the one sanctioned rewrite, done
  with the append-only trigger disabled for this transaction only.
"""

from django.db import migrations, models

FORWARD = """
    ALTER TABLE ledger_transfer DISABLE TRIGGER ledger_transfer_append_only;
    UPDATE ledger_transfer
       SET kind = CASE kind WHEN 'posted' THEN 'immediate' WHEN 'post' THEN 'post_pending'
                            WHEN 'void' THEN 'void_pending' WHEN 'expire' THEN 'expire_pending' END
     WHERE kind IN ('posted', 'post', 'void', 'expire');
    ALTER TABLE ledger_transfer ENABLE TRIGGER ledger_transfer_append_only;
"""
BACKWARD = """
    ALTER TABLE ledger_transfer DISABLE TRIGGER ledger_transfer_append_only;
    UPDATE ledger_transfer
       SET kind = CASE kind WHEN 'immediate' THEN 'posted' WHEN 'post_pending' THEN 'post'
                            WHEN 'void_pending' THEN 'void' WHEN 'expire_pending' THEN 'expire' END
     WHERE kind IN ('immediate', 'post_pending', 'void_pending', 'expire_pending');
    ALTER TABLE ledger_transfer ENABLE TRIGGER ledger_transfer_append_only;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0002_append_only"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="account", name="ledger_account_kind_valid"),
        migrations.RemoveConstraint(model_name="account", name="ledger_account_owner_matches_kind"),
        migrations.RemoveConstraint(model_name="transfer", name="ledger_transfer_kind_valid"),
        migrations.RemoveConstraint(
            model_name="transfer", name="ledger_transfer_resolution_has_pending"
        ),
        migrations.AlterField(
            model_name="account", name="kind", field=models.CharField(max_length=32)
        ),
        migrations.AlterField(
            model_name="transfer", name="code", field=models.CharField(max_length=40)
        ),
        migrations.AlterField(
            model_name="transfer",
            name="kind",
            field=models.CharField(
                choices=[
                    ("immediate", "Immediate"),
                    ("pending", "Pending"),
                    ("post_pending", "Post pending"),
                    ("void_pending", "Void pending"),
                    ("expire_pending", "Expire pending"),
                ],
                max_length=16,
            ),
        ),
        migrations.RunSQL(sql=FORWARD, reverse_sql=BACKWARD),
        migrations.AddConstraint(
            model_name="account",
            constraint=models.CheckConstraint(
                condition=models.Q(("kind__regex", "^[a-z][a-z0-9_]{0,31}$")),
                name="ledger_account_kind_format",
            ),
        ),
        migrations.AddConstraint(
            model_name="transfer",
            constraint=models.CheckConstraint(
                condition=models.Q(("code__regex", "^[a-z][a-z0-9_]{0,39}$")),
                name="ledger_transfer_code_format",
            ),
        ),
        migrations.AddConstraint(
            model_name="transfer",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    (
                        "kind__in",
                        ["immediate", "pending", "post_pending", "void_pending", "expire_pending"],
                    )
                ),
                name="ledger_transfer_kind_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="transfer",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(
                        ("kind__in", ["post_pending", "void_pending", "expire_pending"]),
                        ("pending__isnull", False),
                    ),
                    models.Q(("kind__in", ["immediate", "pending"]), ("pending__isnull", True)),
                    _connector="OR",
                ),
                name="ledger_transfer_resolution_has_pending",
            ),
        ),
    ]
