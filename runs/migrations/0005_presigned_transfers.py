from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0004_rerun_of"),
    ]

    operations = [
        migrations.AddField(
            model_name="transfer",
            name="mode",
            field=models.CharField(
                choices=[("chunked", "Chunked"), ("presigned", "Presigned")],
                default="chunked",
                max_length=10,
            ),
        ),
    ]
