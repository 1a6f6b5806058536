from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from ops.audit import audit_token_issued
from runs.tokens import token_issue


class Command(BaseCommand):
    help = "Issue an API token for USERNAME and print it on stdout (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--create-user", action="store_true", help="create the user if missing")
        parser.add_argument("--name", default="", help="a label for the token")
        parser.add_argument(
            "--password", default=None, help="set this password (with --create-user)"
        )
        parser.add_argument("--staff", action="store_true", help="make a created user staff")

    def handle(self, *args, username, create_user, name, password, staff, **opts):
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        created = user is None
        if user is None:
            if not create_user:
                raise CommandError(f"no user {username!r}; pass --create-user to create it")
            user = User.objects.create_user(
                username=username, password=password, is_staff=staff, is_superuser=staff
            )
        elif password:
            user.set_password(password)
            user.save(update_fields=["password"])
        key = token_issue(user=user, name=name)
        audit_token_issued(key, user=user, created_user=created)
        self.stdout.write(key)
