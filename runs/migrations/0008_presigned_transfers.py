from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0007_template_versions"),
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
